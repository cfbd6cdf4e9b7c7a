"""The KPI dashboard shown in the Airflow UI: queries on `kpi_daily`, chart geometry, the page.

Airflow-free: `plugins/receivables_dashboard.py` serves it behind Airflow's authentication and
hands it a warehouse engine and the request's GET parameters.
"""
