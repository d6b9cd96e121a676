from django.urls import path

from .views import embedded_form, public_form

urlpatterns = [
    path("<slug:slug>/", public_form, name="ace_form"),
    path("<slug:slug>/embed/", embedded_form, name="ace_form_embed"),
]
