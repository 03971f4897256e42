"""kgen: train, watch and explore generative image models with Keras 3 on TensorFlow.

The library never imports Qt; the desktop app in ``gui`` talks to it through its public API.
``import kgen`` stays cheap (no TensorFlow); ``import kgen.models`` registers kgen's model classes
with Keras, so that ``keras.saving.load_model("run/model.keras")`` opens a run's model.
"""

import os

# Keras reads its backend once, at first import: choose TensorFlow before anything imports it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
