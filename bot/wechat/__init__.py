"""The WeChat Official Account channel (issue 15).

``setup.setup_wechat`` adds ``/wechat`` when ``WECHAT_TOKEN`` and ``WECHAT_APP_ID`` are set:
``protocol`` checks signatures, timestamps and XML and (safe mode) decrypts with ``crypto``;
``channel`` runs each message once through ``ConversationService.handle`` (channel ``wechat``),
answers passively within the reply budget or later through the customer-service API (``api``,
``tokens``), and delivers agent messages, queue updates and the survey; ``render`` turns bot
messages into WeChat text; ``state`` keeps the short-lived channel state in Redis or memory.
"""
