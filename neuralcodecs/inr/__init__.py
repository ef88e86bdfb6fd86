"""Overfitted codecs: networks fitted to one video or image, whose coded parameters are the file
(NeRV, HNeRV, NIRVANA, a Cool-chic-style image codec).  ``weight_coding`` is the shared
parameter coder."""
