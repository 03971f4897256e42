"""The kgen desktop app (PySide6 + pyqtgraph). It talks to training only through kgen's API."""
