"""The balancer's management service for a fleet of agents behind HAProxy: agents report here, and
Paddler's management API answers for all of them (agents, buffered requests, metrics, desired state)."""
