"""The customer data hub as a whole: inbox ingestion and health summary."""
