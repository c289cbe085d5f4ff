"""`push-consumer picture`: the Grafana dashboard's panels, drawn from a real Prometheus.

dashboard.py   reads the dashboard JSON: panels (rows included), queries, units, layout,
               and fills in its template variables the way Grafana would
prometheus.py  Prometheus' HTTP API: range queries and the scrape interval
render.py      draws every panel at its place in the grid into one PNG (matplotlib)
command.py     the CLI: attach to a Prometheus, or run a demo with faults and draw it
"""
