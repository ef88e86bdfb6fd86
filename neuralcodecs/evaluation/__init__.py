"""Rate-distortion evaluation (``ncodec eval``): :mod:`.image` on image folders, :mod:`.video` on
clips, both in CompressAI's results schema.  Nothing is imported here; import the sub-module you need."""
