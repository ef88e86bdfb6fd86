"""Entropic Student (Matsubara et al., WACV 2022): a supervised codec whose files a classifier reads.

``model`` (the trainable network and its two training stages), ``frozen`` (integer tables for
exact coding), ``codec`` (the registry's ``student``: files in, class probabilities out),
``objective`` (``ncodec train --codec student``), ``options`` (torch-free declarations).
"""
