"""STEM: the spatiotemporal entropy model video codec (``model`` float training side, ``frozen``
exact twin, ``codec`` the registry codec, ``options`` its torch-free encode options,
``image_codec`` the hyperprior it was trained on, found by fingerprint, ``training`` /
``objective`` / ``weights`` the training data, objective and export)."""
