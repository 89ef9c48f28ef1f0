# The product's Airflow image: the official image of the pinned Airflow, plus unixODBC with the
# SQLite3 (sample company) and FreeTDS (SQL Server staging databases) ODBC drivers, the pinned
# runtime requirements (never the test tools of requirements-dev.txt), and the project itself
# installed as an Airflow provider, so that every component (the api-server's connection form
# above all) knows connection type amazon_sp_api.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc libsqliteodbc tdsodbc \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
COPY requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt
# The project as a provider, from what `pip install .` reads, owned by airflow because pip builds
# in that folder; --no-deps, as the pins above are its dependencies. docker-compose.yaml mounts
# ./plugins over /opt/airflow/plugins and puts it first on PYTHONPATH, so the mounted code runs;
# the installed copy brings the entry point (and runs when the image is used without that mount).
COPY --chown=airflow:0 pyproject.toml /opt/airflow/amazon-sage/pyproject.toml
COPY --chown=airflow:0 plugins/amazon_sage /opt/airflow/amazon-sage/plugins/amazon_sage
RUN pip install --no-cache-dir --no-deps /opt/airflow/amazon-sage
