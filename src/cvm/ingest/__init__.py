"""Ingestion: read CRM exports, coerce them to hub types and validate them."""
