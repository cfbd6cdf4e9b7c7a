# The image every Airflow service of docker-compose.yml runs: the official Airflow 3.3.2 image
# with the project's exact pins (requirements.txt) and the `receivables` package.
FROM apache/airflow:3.3.2-python3.11

# WeasyPrint renders the letters with Pango; libharfbuzz-subset0 makes its font subsetting ~5x
# faster; DejaVu and Liberation are the fonts the letter templates name (Arial's metric twin).
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
USER airflow

# Pins first: the layer is rebuilt only when requirements.txt changes.
COPY --chown=airflow:0 requirements.txt /opt/airflow/receivables/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/receivables/requirements.txt

# The package is installed editable from /opt/airflow/receivables: it finds its templates,
# scenarios and legal tables in the include/ folder beside src/ (docker-compose.yml mounts the
# checkout's include/ over the copy baked in here). .data/ is where run folders, outbox files
# and the input drop folder live (a volume in docker-compose.yml).
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/receivables/
COPY --chown=airflow:0 src /opt/airflow/receivables/src
COPY --chown=airflow:0 include /opt/airflow/receivables/include
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/receivables \
    && mkdir -p /opt/airflow/receivables/.data /opt/airflow/auth \
    && chmod -R g+rwX /opt/airflow/receivables/.data /opt/airflow/auth
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins

ENV RECEIVABLES_HOME=/opt/airflow/receivables \
    GX_ANALYTICS_ENABLED=False
