from django.urls import path

from chat.api import openai_compat

app_name = "openai"
urlpatterns = [
    path("chat/completions", openai_compat.ChatCompletionsView.as_view(), name="chat-completions"),
    path("models", openai_compat.OpenAIModelsView.as_view(), name="models"),
]
