"""Temporal compressive sensing (design section 7): B frames coded into one snapshot.

- :mod:`.codec`: masks (from a seed or a calibration file) and the encoder;
- :mod:`.snapshot`: the ``.tcs.tif`` snapshot file and its metadata;
- :mod:`.gaptv`: the classical decoder (GAP-TV);
- :mod:`.net`: the learned decoder (GAP steps + small U-Nets) and its model file;
- :mod:`.decode`: either decoder on snapshots in counts, with per-snapshot normalisation;
- :mod:`.data`: simulated movies with detector noise (training and test sets);
- :mod:`.train`, :mod:`.evaluate`: ``pssr-live train-tcs`` / ``evaluate-tcs``;
- :mod:`.live`: the live ``tcs`` topic (coding beside the raw path, decoding for viewers).

Results and commands: docs/tcs.md.
"""
