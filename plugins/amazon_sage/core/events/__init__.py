"""Amazon's ORDER_CHANGE notifications, as the event DAG reads them from its SQS queue (plain Python, no Airflow).

``order_change``: one SQS message checked against Amazon's schema and read into an :class:`OrderChange`, or a
:class:`BadMessage` with the reason. ``collect``: a run's asset events -> the order ids to fetch, with counts.
"""
