from django.apps import AppConfig


class TenantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tenants"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in
        from django_q.signals import post_execute_in_worker, pre_execute

        from portal import checks as portal_checks  # noqa: F401  (registers system checks)
        from portal.logs import task_log_context_end, task_log_context_start
        from portal.security import on_user_logged_in
        from tenants import checks  # noqa: F401  (registers system checks)
        from tenants.signin import on_user_locked_out

        # A sign-in lockout is an audit event (tenants.signin).
        user_locked_out.connect(on_user_locked_out, dispatch_uid="tenants.signin.on_user_locked_out")
        # A staff sign-in starts a short browser session (portal.security).
        user_logged_in.connect(on_user_logged_in, dispatch_uid="portal.security.on_user_logged_in")
        # Every line a django-q2 task logs carries the task's id (portal.logs).
        pre_execute.connect(task_log_context_start, dispatch_uid="portal.logs.task_log_context_start")
        post_execute_in_worker.connect(task_log_context_end, dispatch_uid="portal.logs.task_log_context_end")
