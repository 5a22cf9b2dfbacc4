# Not exercised by CI (no Docker engine on the CI machines); kept for people who deploy with it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md wsgi.py gunicorn.conf.py ./
COPY connector ./connector
COPY manychat_app ./manychat_app
COPY zapier_app ./zapier_app
COPY shopify_app ./shopify_app
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "wsgi:app"]
