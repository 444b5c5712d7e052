package com.kosmosx.api.api;

/** Bodies of the seed-compatible routes ({@code /register}, {@code /predict}, ...). */
public final class SeedRequests {
  private SeedRequests() {}

  /** {@code /register}: email is optional here, as in the seed. */
  public record Register(String username, String password, String email) {}

  /** {@code /rotate_api_key} and {@code /delete_account}. */
  public record Credentials(String username, String password) {}

  /** {@code /predict}. */
  public record Predict(String text) {}
}
