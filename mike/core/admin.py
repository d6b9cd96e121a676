class ReadOnlyAdminMixin:
    """For audit and log models: rows are written by services only, never added, edited or deleted
    in the admin (the changelist and change page still show them)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
