"""``/api/v1/plugins`` (catalog, publishing, installs, ratings) and ``/api/v1/marketplace/``
(publisher account, onboarding, submissions, earnings, the staff review queue, package
downloads). Signed-in sessions only: API keys are refused (no ``scope_family``)."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from backups.api.views.common import blob_response
from core.api import ApiView, validated
from core.errors import NotFound, PermissionDenied
from core.pagination import PageQuerySerializer, page_body, paginate
from marketplace import packages, selectors
from marketplace.api import serializers as s
from marketplace.models import InstallStatus
from marketplace.services import installs, publishing

PLUGINS = ["plugins"]
MARKETPLACE = ["marketplace"]
CONFLICT = OpenApiResponse(description="The state does not allow it (CONFLICT).")
PLUGIN_ID = OpenApiParameter("plugin_id", str, OpenApiParameter.PATH, description="namespace.name")


def _absolute(request: Request, url: str | None) -> str | None:
    return request.build_absolute_uri(url) if url and url.startswith("/") else url


class PluginCollectionView(ApiView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=PLUGINS,
        operation_id="plugins_list",
        parameters=[s.CatalogQuery],
        responses={200: s.PluginListResponse},
    )
    def get(self, request: Request) -> Response:
        """The catalog: listed plugins, filtered and ordered, a page at a time."""
        query = validated(s.CatalogQuery, request.query_params)
        page = selectors.catalog(**query)
        return Response(
            {
                "results": s.PluginSummaryOutput(page.items, many=True).data,
                "total": page.total,
                "next_cursor": page.next_cursor,
                "has_more": page.next_cursor is not None,
            }
        )

    @extend_schema(
        tags=PLUGINS,
        request={"multipart/form-data": s.PluginSubmitInput},
        responses={201: s.SubmissionOutput, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        """Submit a plugin version (manifest + package) for review."""
        data = validated(s.PluginSubmitInput, request.data)
        package = data["package"]
        version = publishing.plugin_submit(
            user=request.user, manifest=data["manifest"], package=package, size=package.size
        )
        return Response(s.SubmissionOutput(version).data, status=201)


class PluginDetailView(ApiView):
    @extend_schema(tags=PLUGINS, parameters=[PLUGIN_ID], responses={200: s.PluginDetailOutput})
    def get(self, request: Request, plugin_id: str) -> Response:
        return Response(s.PluginDetailOutput(selectors.plugin_detail(slug=plugin_id)).data)


class PluginInstallView(ApiView):
    @extend_schema(
        tags=PLUGINS,
        parameters=[PLUGIN_ID],
        request=s.PluginInstallRequest,
        responses={
            200: s.InstallOutput,
            202: OpenApiResponse(s.InstallOutput, description="Paid: confirm the payment."),
            409: CONFLICT,
        },
    )
    def post(self, request: Request, plugin_id: str) -> Response:
        """Install (answers a signed, time-limited download URL), or start a paid plugin's
        payment: the installation is granted when Stripe reports the payment."""
        validated(s.PluginInstallRequest, request.data)
        result = installs.plugin_install(user=request.user, slug=plugin_id)
        installation = result.installation
        body = {
            "ok": installation.status == InstallStatus.ACTIVE,
            "status": installation.status,
            "version": installation.version.version,
            "download_url": _absolute(request, result.download_url),
            "payment": result.payment,
        }
        return Response(s.InstallOutput(body).data, status=200 if body["ok"] else 202)

    @extend_schema(tags=PLUGINS, parameters=[PLUGIN_ID], responses={204: None})
    def delete(self, request: Request, plugin_id: str) -> Response:
        installs.plugin_uninstall(user=request.user, slug=plugin_id)
        return Response(status=204)


class PluginRatingView(ApiView):
    @extend_schema(
        tags=PLUGINS, parameters=[PLUGIN_ID], request=s.RatingInput, responses={200: s.RatingOutput}
    )
    def put(self, request: Request, plugin_id: str) -> Response:
        """Rate a plugin you installed (1-5, optional text); again to change your rating."""
        rating = installs.rating_set(
            user=request.user, slug=plugin_id, **validated(s.RatingInput, request.data)
        )
        return Response(s.RatingOutput(rating).data)


class InstalledListView(ApiView):
    @extend_schema(tags=PLUGINS, responses={200: s.InstallationListOutput})
    def get(self, request: Request) -> Response:
        installed = selectors.installed_of(user=request.user)
        return Response({"results": s.InstallationOutput(installed, many=True).data})


# --- /marketplace/ -------------------------------------------------------------------------------


class PublisherView(ApiView):
    @extend_schema(tags=MARKETPLACE, responses={200: s.PublisherOutput})
    def get(self, request: Request) -> Response:
        return Response(s.PublisherOutput(publishing.publisher_of(request.user)).data)

    @extend_schema(
        tags=MARKETPLACE,
        request=s.PublisherInput,
        responses={201: s.PublisherOutput, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        """Become a publisher under a namespace (plugin ids are ``namespace.name``)."""
        data = validated(s.PublisherInput, request.data)
        publisher = publishing.publisher_create(user=request.user, namespace=data["namespace"])
        return Response(s.PublisherOutput(publisher).data, status=201)


class OnboardingView(ApiView):
    @extend_schema(tags=MARKETPLACE, responses={200: s.PublisherOutput})
    def get(self, request: Request) -> Response:
        """Whether Stripe lets your account take payments and receive payouts (asked now)."""
        publisher = publishing.publisher_onboarding_refresh(user=request.user)
        return Response(s.PublisherOutput(publisher).data)

    @extend_schema(tags=MARKETPLACE, request=None, responses={200: s.UrlOutput})
    def post(self, request: Request) -> Response:
        """A Stripe Connect onboarding URL (the account is created on the first call)."""
        url = publishing.publisher_onboarding_start(
            user=request.user, site_url=request.build_absolute_uri("/")
        )
        return Response({"url": url})


class SubmissionListView(ApiView):
    @extend_schema(
        tags=MARKETPLACE, parameters=[PageQuerySerializer], responses={200: s.SubmissionListOutput}
    )
    def get(self, request: Request) -> Response:
        """Your submitted versions, newest first, with their checks, status and review notes."""
        query = validated(PageQuerySerializer, request.query_params)
        page = paginate(
            selectors.submissions_of(user=request.user),
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        return Response(page_body(page, s.SubmissionOutput))


class EarningsView(ApiView):
    @extend_schema(
        tags=MARKETPLACE, parameters=[s.EarningsQuery], responses={200: s.EarningsOutput}
    )
    def get(self, request: Request) -> Response:
        """Your revenue for a month: gross, platform fee, your share, and its payout."""
        period = validated(s.EarningsQuery, request.query_params)["period"]
        publisher = publishing.publisher_of(request.user)
        return Response(
            s.EarningsOutput(selectors.earnings(publisher=publisher, period=period)).data
        )


class ReviewQueueView(ApiView):
    @extend_schema(
        tags=MARKETPLACE, parameters=[PageQuerySerializer], responses={200: s.ReviewQueueOutput}
    )
    def get(self, request: Request) -> Response:
        """Staff: versions waiting for review, oldest first, with the automated checks."""
        if not request.user.is_staff:
            raise NotFound()
        query = validated(PageQuerySerializer, request.query_params)
        page = paginate(
            selectors.review_queue(),
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=False,
        )
        return Response(page_body(page, s.ReviewQueueItemOutput))


class ReviewDecisionView(ApiView):
    @extend_schema(
        tags=MARKETPLACE,
        parameters=[OpenApiParameter("version_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=s.ReviewInput,
        responses={200: s.SubmissionOutput, 409: CONFLICT},
    )
    def post(self, request: Request, version_id) -> Response:
        """Staff: approve or reject a pending version (a reason is required to reject)."""
        data = validated(s.ReviewInput, request.data)
        version = publishing.version_review(reviewer=request.user, version_id=version_id, **data)
        return Response(s.SubmissionOutput(version).data)


class PackageDownloadView(ApiView):
    # The signed token is the credential: download links work without a session header.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=MARKETPLACE,
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The package (zip).")},
    )
    def get(self, request: Request, token: str) -> StreamingHttpResponse:
        """A plugin package, through a signed link from install (403 when expired or altered)."""
        version_id, user_id = packages.download_token_read(token)
        installation = selectors.installation_downloadable(version_id=version_id, user_id=user_id)
        if installation is None:
            raise PermissionDenied("This plugin is no longer installed; install it again.")
        version = installation.version
        response = blob_response(
            request,
            key=version.package_key,
            checksum=version.package_sha256,
            size=version.package_bytes,
        )
        name = f"{installation.plugin.slug}-{version.version}.zip"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
