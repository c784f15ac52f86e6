"""Agent definitions for Foundry Agent Service, managed from the app's configuration and tool registry.

``python -m foundry_agents sync|list|show|delete|cleanup``: see docs/foundry-agents.md. A dev/ops tool: not
deployed with the function app (listed in .funcignore), its SDKs live in requirements-dev.txt.
"""
