package com.kosmosx.api.api;

/** {@code POST /v1/accounts} body. */
public record CreateAccountRequest(String username, String email, String password) {}
