"""Pieces shared by the edge agent and the hub: the MQTT contract and asset manifests."""

__version__ = "0.1.0"
