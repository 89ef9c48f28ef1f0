<?xml version="1.0" encoding="UTF-8"?>
<!--
  Zynk XML despatched sales orders (Export Despatches) to Amazon shipment confirmations (Upload Shipments).

  One Shipment per Sage order: the package's carrier, tracking number and ship date, and each line's SKU with
  what Sage has despatched of it so far (QtyDespatched, cumulative over every despatch of the order). The
  Confirm Shipments step matches SKUs to Amazon's order items and sends only what Amazon does not yet count as
  shipped, so this mapping never has to know what went before.

  Carrier: the Sage courier name (COURIER_NAME) is looked up in the CarrierCodes parameter, "Sage name=Amazon
  carrierCode" pairs separated by ';' (the COURIER_CARRIER_CODES setting). A courier matches the first name it
  equals or starts with followed by a space, ignoring case and extra spaces: "royal mail  Tracked 24" is
  "Royal Mail". The whole Sage name goes as shippingMethod. A courier the table does not know is sent as
  carrierCode "Other" with the Sage name as carrierName (Amazon requires the name with Other): never dropped.

  Ship date: DespatchDate is a date only; when Sage stamped the order (DateModified) on that day, that time is
  used, otherwise noon of the despatch day. Sage's times carry no zone and are read as UTC, as the window is.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" encoding="utf-8" indent="yes"/>

  <xsl:param name="CarrierCodes" select="''"/>
  <xsl:param name="ShipFromSupplySourceId" select="''"/>

  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>

  <xsl:template match="/">
    <Shipments>
      <xsl:apply-templates select="Company/SalesOrders/SalesOrder"/>
    </Shipments>
  </xsl:template>

  <!-- The Amazon carrierCode of $courier (lower case, spaces normalised) in $table, or nothing. -->
  <xsl:template name="carrier-code">
    <xsl:param name="courier"/>
    <xsl:param name="table"/>
    <xsl:if test="normalize-space($table) != ''">
      <xsl:variable name="entry" select="substring-before(concat($table, ';'), ';')"/>
      <xsl:variable name="name" select="normalize-space(translate(substring-before($entry, '='), $upper, $lower))"/>
      <xsl:choose>
        <xsl:when test="$name != '' and ($courier = $name or starts-with($courier, concat($name, ' ')))">
          <xsl:value-of select="normalize-space(substring-after($entry, '='))"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:call-template name="carrier-code">
            <xsl:with-param name="courier" select="$courier"/>
            <xsl:with-param name="table" select="substring-after($table, ';')"/>
          </xsl:call-template>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>

  <xsl:template match="SalesOrder">
    <xsl:variable name="courier" select="normalize-space(CourierName)"/>
    <xsl:variable name="code">
      <xsl:call-template name="carrier-code">
        <xsl:with-param name="courier" select="translate($courier, $upper, $lower)"/>
        <xsl:with-param name="table" select="$CarrierCodes"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="despatched" select="normalize-space(DespatchDate)"/>
    <xsl:variable name="stamped" select="normalize-space(DateModified)"/>
    <Shipment>
      <orderId><xsl:value-of select="normalize-space(CustomerOrderNumber)"/></orderId>
      <sageOrderNumber><xsl:value-of select="SalesOrderNumber"/></sageOrderNumber>
      <despatchStatus><xsl:value-of select="DespatchStatus"/></despatchStatus>
      <xsl:choose>
        <xsl:when test="normalize-space($code) != ''">
          <carrierCode><xsl:value-of select="normalize-space($code)"/></carrierCode>
        </xsl:when>
        <xsl:otherwise>
          <carrierCode>Other</carrierCode>
          <carrierName><xsl:value-of select="$courier"/></carrierName>
        </xsl:otherwise>
      </xsl:choose>
      <xsl:if test="$courier != ''">
        <shippingMethod><xsl:value-of select="$courier"/></shippingMethod>
      </xsl:if>
      <trackingNumber><xsl:value-of select="normalize-space(ConsignmentNo)"/></trackingNumber>
      <shipDate>
        <xsl:choose>
          <xsl:when test="$despatched = '' or substring($stamped, 1, 10) = substring($despatched, 1, 10)">
            <xsl:value-of select="$stamped"/>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="concat(substring($despatched, 1, 10), 'T12:00:00')"/></xsl:otherwise>
        </xsl:choose>
        <xsl:text>Z</xsl:text>
      </shipDate>
      <xsl:if test="normalize-space($ShipFromSupplySourceId) != ''">
        <shipFromSupplySourceId><xsl:value-of select="normalize-space($ShipFromSupplySourceId)"/></shipFromSupplySourceId>
      </xsl:if>
      <items>
        <xsl:for-each select="SalesOrderItems/Item[normalize-space(Sku) != '']">
          <item>
            <sku><xsl:value-of select="normalize-space(Sku)"/></sku>
            <quantityOrdered><xsl:value-of select="QtyOrdered"/></quantityOrdered>
            <quantityDespatched><xsl:value-of select="QtyDespatched"/></quantityDespatched>
          </item>
        </xsl:for-each>
      </items>
    </Shipment>
  </xsl:template>
</xsl:stylesheet>
