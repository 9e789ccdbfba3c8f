"""What every API room shares: the services container, access control, error rendering, JSON body checks,
streaming writers, result following, chat templates, the health probe, and the 425 that sends a request
back to a fleet's HAProxy for another agent."""
