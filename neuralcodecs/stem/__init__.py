"""STEM: the spatiotemporal entropy model video codec (``model`` float training side, ``frozen``
exact twin, ``codec`` the registry codec, ``training`` / ``weights`` the training objective and
export)."""
