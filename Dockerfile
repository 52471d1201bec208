# One image for every app role of the production shape (api = gunicorn, ws = daphne, migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are built into the image (WhiteNoise serves them); a build-time key only.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0
RUN useradd --system --uid 10001 app
USER app
EXPOSE 8000
CMD ["gunicorn", "social.wsgi:application", "--bind", "0.0.0.0:8000"]
