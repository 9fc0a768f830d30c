FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY router ./router
COPY channels ./channels
COPY bots ./bots
COPY queues ./queues
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["switchboard", "serve"]
