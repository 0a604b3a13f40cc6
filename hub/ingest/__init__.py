"""MQTT ingestion: validates contract messages and stores them idempotently."""
