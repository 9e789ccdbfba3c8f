"""What every API room shares: the services container, access control, error rendering, JSON body checks,
streaming writers, result following, chat templates, and the health probe."""
