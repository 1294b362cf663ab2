"""The bundled target system: an order shop built on sagas, breakers, retries and discovery."""
