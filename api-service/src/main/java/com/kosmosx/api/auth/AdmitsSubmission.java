package com.kosmosx.api.auth;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a resource method that submits a job: the account's submission limit is counted after
 * authentication and before the body is read, so a client over its limit costs us no upload.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface AdmitsSubmission {}
