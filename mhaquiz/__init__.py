"""mhaquiz: practise multi-head attention for ML interviews."""

__version__ = "0.1.0"
