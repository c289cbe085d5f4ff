"""Kafka-native push dispatch pipeline."""

__version__ = "0.1.0"
