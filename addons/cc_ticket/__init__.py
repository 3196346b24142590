"""Contact-center tickets (工单): types, SLA on a Chinese business calendar,
dispatch, compensation and follow-up visits."""
