"""Serverless federated learning: strategies (pure policies), models, data, store and log.

Strategies decide (`tessera.fl.strategy`); drivers act: `tessera.sim.fl`
runs a population of clients in virtual time.
"""
