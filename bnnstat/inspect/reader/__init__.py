"""Read a saved Keras model file into a `ModelRecord` without TensorFlow or Keras.

- `container`: sniffing a file's kind; zip/HDF5 access (read-only, no weight values).
- `keras_config`: Keras 2/3 config parsing into a layer graph, and quantizer precision.
- `weights`: matching saved weight shapes to the parsed layers.
- `graph`: static shape evaluation of the parsed graph.
- `build`: the entry point `read`, which runs the above and builds the `ModelRecord`.
"""

from bnnstat.inspect.reader.build import read
from bnnstat.inspect.reader.container import ModelFileKind, model_file_kind, sniff
from bnnstat.inspect.reader.keras_config import quantizer_record

__all__ = ["ModelFileKind", "model_file_kind", "quantizer_record", "read", "sniff"]
