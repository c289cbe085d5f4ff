"""A real Apache Kafka broker for development and tests, provisioned without Docker."""
