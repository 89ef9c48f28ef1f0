# The product's Airflow image: the official image of the pinned Airflow, plus unixODBC with the
# SQLite3 (sample company) and FreeTDS (SQL Server staging databases) ODBC drivers, and the
# pinned Python requirements.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc libsqliteodbc tdsodbc \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
COPY requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt
