"""receivables: an Airflow-native accounts-receivable collections pipeline."""

__version__ = "0.1.0"
