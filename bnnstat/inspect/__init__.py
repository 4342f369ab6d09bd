"""The inspector: plain data about a model, computed without TensorFlow.

Data flow: a loader turns a model into a `ModelRecord` (`reader` for files, `keras_adapter`
for live Keras models; only the latter imports Keras), `analysis.analyze` runs the stages
(`profile` -> `lce` -> `audit`/`lce` findings) into an `Analysis`, and `report` renders it
(`serialize` writes it as JSON). Every fact about a layer class comes from `catalog`.
"""
