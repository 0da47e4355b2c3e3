"""ICY/ID3 in-band stream metadata: wire splitting, title matching, airing classification.

Pure code (no I/O): the worker's capture feeds :mod:`.icy`, the metadata-check report
uses :mod:`.match` and :mod:`.classify`.
"""
