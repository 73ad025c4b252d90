# Flask's own settings file, committed (the private .env is not): read by `flask`, compose and
# `make dev`, below .env and the real environment, which win. Name your app here.
FLASK_APP=app
