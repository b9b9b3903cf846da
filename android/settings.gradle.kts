// Gradle build of the Android library `dev.bitnet:bitnet-android` (the AAR). The native
// libraries come from scripts/build-android.sh; the JVM tests of the same sources are the
// Maven build in jvm/ (scripts/test-kotlin.sh).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "bitnet-android"
include(":bitnet")
