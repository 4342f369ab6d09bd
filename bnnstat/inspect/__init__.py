"""The inspector: plain data about a model, computed without TensorFlow.

Data flow: a loader turns a model into a `ModelRecord` (`file_reader` for files, `keras_adapter`
for live Keras models; only the latter imports Keras), `profile.profile` computes a
`ModelProfile` from it, and `report` renders that. Audit, flips and plots start from the same
records and profiles.
"""
