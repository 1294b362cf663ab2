"""The shop's services: gateway, orders (the saga orchestrator) and the participants."""
