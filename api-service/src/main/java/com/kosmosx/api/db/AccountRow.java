package com.kosmosx.api.db;

/** A live account as authentication needs it. */
public record AccountRow(
    String id, String username, String passwordHash, String role, String webhookSecret) {}
