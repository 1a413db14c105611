"""heedu on Azure ML: scoring script, key exchange, deployment, client and a local stack."""
