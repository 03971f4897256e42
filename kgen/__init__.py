"""kgen: train, watch and explore generative image models with Keras 3 on TensorFlow.

The library never imports Qt; the desktop app in ``gui`` talks to it through its public API.
"""

import os

# Keras reads its backend once, at first import: choose TensorFlow before anything imports it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
