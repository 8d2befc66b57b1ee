"""Redcurrent workers: the KCL-style stream consumer (``workers.kcl``).

Built only on the public SDK (``broker.sdk``). Importing runs nothing.
"""
