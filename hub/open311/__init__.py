"""Open311 GeoReport v2 interface of Lapor Yai."""
